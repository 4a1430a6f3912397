"""What people use: the ``askpapers`` command line (``cli``) and the Gradio chat page (``app``)."""

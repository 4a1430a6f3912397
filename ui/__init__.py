"""The Gradio chat page (added by the chat-page issue)."""

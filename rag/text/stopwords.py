"""The stopword list: NLTK's English stopwords, plus research prose that names no topic.

NLTK's list (179 words) is the one bm25s ships as ``bm25s.stopwords.STOPWORDS_EN_PLUS``; it is
copied here so that reading a sentence needs no numpy or scipy (importing bm25s costs ~0.5 s), and
tests/test_text.py checks that the copy still equals bm25s's.
"""

from __future__ import annotations

_NLTK_ENGLISH = """
    a about above after again against ain all am an and any are aren aren't as at be because been
    before being below between both but by can couldn couldn't d did didn didn't do does doesn
    doesn't doing don don't down during each few for from further had hadn hadn't has hasn hasn't
    have haven haven't having he her here hers herself him himself his how i if in into is isn isn't
    it it's its itself just ll m ma me mightn mightn't more most mustn mustn't my myself needn
    needn't no nor not now o of off on once only or other our ours ourselves out over own re s same
    shan shan't she she's should should've shouldn shouldn't so some such t than that that'll the
    their theirs them themselves then there these they this those through to too under until up ve
    very was wasn wasn't we were weren weren't what when where which while who whom why will with
    won won't wouldn wouldn't y you you'd you'll you're you've your yours yourself yourselves
"""
#: NLTK's English stopwords (contractions included, though our tokens never contain an apostrophe).
NLTK_ENGLISH = frozenset(_NLTK_ENGLISH.split())

#: Research prose that names no topic: words every abstract uses ("paper", "propose", "results",
#: "model"), which in a coverage share made unrelated abstracts look relevant. Inflections are listed
#: because stopwords are dropped before stemming.
_RESEARCH_WORDS = """
    also across although among either even every however many much often rather thus upon us via
    per versus vs et al within without whereas whether yet may might must shall
    use uses used using paper papers study studies studied work works find finds found
    show shows showed shown report reports reported propose proposes proposed approach approaches
    method methods model models result results research researchers author authors
"""
RESEARCH_WORDS = frozenset(_RESEARCH_WORDS.split())

#: Words of a question's phrasing that name no topic ("how accurately", "what is the effect of");
#: dropped from questions only ("accuracy" is a topic in a claim).
_QUESTION_WORDS = "accurately accuracy large high low kind kinds way ways effect effects"
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())

STOPWORDS = NLTK_ENGLISH | RESEARCH_WORDS

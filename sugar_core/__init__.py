"""sugar: skeleton-based action recognition with text priors and a frozen LLM.

Dimension glossary used in docstrings, asserts and shape comments across the package:

    N  samples          M  persons (bodies)     T  frames          V  joints
    C  coordinates      K  classes              P  texts per class D  embedding width
    Ls token-sequence length                    Q  queries (TQP)   H  hidden width
    S  chunk length                             B  batch
"""

__version__ = "0.1.0"

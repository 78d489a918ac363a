"""Zero-shot recognition: train on seen classes only, recognise unseen ones.

Modules, bottom up: ``config`` (ZeroShotConfig), ``splits`` (named and user unseen splits),
``plan`` (who trains and who is tested), ``baseline`` (the embedding baseline, GZSL figures),
``seen`` (the two stages on seen classes only), ``cost`` (what a run will do and cost, in
counts and seconds), ``speed`` (this machine's rates, measured before a run trains),
``store`` (the zeroshot file), ``protocol`` (``run_zeroshot``, the whole protocol).
"""

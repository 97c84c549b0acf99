"""Seeing what a game file did: the recorder, the HTML report, golden-frame samples, capture perturbations and the demo drawing."""

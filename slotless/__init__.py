"""slotless: an executable reproduction of *Neural Computation Without Slots*
(Bhandarkar & McClelland, arXiv 2511.04593).

One module per idea:

- ``patterns``  random s-sparse patterns, partial cues, nested-CRP trees
- ``networks``  the K-winner and 1-winner modern Hopfield networks
- ``protocol``  the continual-learning protocol (burn-in, learn, retrieve, score)
- ``metrics``   accuracy by age, raw difference, paired d', AUC, SDT d', fits
- ``theory``    exact and approximate formulas for the formal results
- ``task``      the Case Sequence Task
- ``models``    the minimal transformer and the MHN-Transformers
- ``training``  seed-stacked training sweeps
- ``plots``     shared figure styling
- ``cli``       ``python -m slotless ...``, a thin layer over the above
- ``checks``    argument validation with one-line errors
- ``io``        atomic writes and the keyed result cache
"""

__version__ = "0.1.0"

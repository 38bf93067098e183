"""Training and the model zoo: the layer above the evaluation harness.

:mod:`training.train` is the training pipeline (``nmn-train``, ``python -m training.train``),
:mod:`training.validation` its model selection on the validation task set (played by the
harness's rollout), :mod:`training.maml_train` MAML's trainer (``nmn-train ENV --policy maml``)
and :mod:`training.zoo` the shipped models' cards (each one records the harness's score of its
model). The harness itself knows nothing of this package: it resolves
``zoo:`` names through the catalogue that :mod:`training.zoo` registers
(:mod:`evaluate.catalogues`).
"""

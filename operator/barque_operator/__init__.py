"""barque's Kubernetes operator: CR models, pure manifest/status/reconcile decisions, kopf glue.

Only ``kube.py`` talks to the Kubernetes API and only ``main.py`` and the ``handlers_*``
modules import kopf. Nothing here imports ``barque_runtime`` or user code: the operator
plans and observes; pods execute.
"""

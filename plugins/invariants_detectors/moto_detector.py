"""Detect moto faking AWS.

moto 5's `mock_aws` returns a `moto.core.models.MockAWS`; its `start` switches
on a botocore event handler that answers every AWS call in memory (and a
private responses mock for raw HTTP to AWS URLs). Neither goes through a patch
of a dotted name the code under test would use, so only a detector sees it.
Reported as the boundary `aws` and the libraries `botocore` and `boto3`. Hook
point: `MockAWS.start` / `stop` (decorator, context manager, explicit
`start()`; the server and proxy modes subclass it).
"""

from __future__ import annotations

from pytest_invariants.detectors import detector

pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="moto",
    cls=["moto.core.models:MockAWS", "moto.core.models:BaseMockAWS"],  # moto 5, moto 4
    targets=["aws", "botocore", "boto3"],
    replacement=lambda mock: f"moto {type(mock).__name__} (mock_aws)",
)

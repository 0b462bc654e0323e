"""Certify AcmeGrid with the worldmodel-sdk conformance suite, one pytest test per check."""

from worldmodel_sdk.conformance import parametrize_with_checks


@parametrize_with_checks("acme_worldmodel.model:make_model")
def test_conformance(check):
    check()

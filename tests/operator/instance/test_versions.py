from repairgpt_operator.instance.versions import as_number, older, resource_version


def test_a_resource_version_is_a_number_only_when_it_reads_as_one() -> None:
    assert resource_version({"metadata": {"resourceVersion": "1042"}}) == 1042
    assert resource_version({"metadata": {"resourceVersion": "v7"}}) is None
    assert resource_version({"metadata": {}}) is None
    assert resource_version({}) is None
    assert as_number(12) == 12
    assert as_number("") is None


def test_a_version_is_older_only_when_both_are_known_and_it_is_lower() -> None:
    assert older(9, 10)
    assert not older(10, 10)
    assert not older(11, 10)
    assert not older(None, 10)
    assert not older(9, None)

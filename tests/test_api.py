"""The public surface: `__all__` names what exists, and only that."""

import archiver


def test_all_is_honest():
    for name in archiver.__all__:
        assert hasattr(archiver, name), name
    public = {n for n in dir(archiver) if not n.startswith("_") and not isinstance(getattr(archiver, n), type(archiver))}
    assert public - set(archiver.__all__) <= {"annotations", "logging", "typing"}


def test_clean_api_round_trip():
    snap = archiver.clean("<html><head><title>T | Site</title></head><body><article><p>"
                          + "Words of the article here. " * 20 + "</p></article></body></html>", "https://site.example/a")
    assert isinstance(snap, archiver.Snapshot) and snap.status == "ok" and snap.word_count == 100

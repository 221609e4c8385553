"""Running a framework call whose error, if any, is the observation."""


def outcome(call, *args, **kwargs):
    """(error, None) if ``call`` raised, else (None, its result)."""
    try:
        return None, call(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - any framework error is what the test observes
        return err, None

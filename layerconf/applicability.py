"""Whether a behaviour's case applies to a framework, from its profile alone.

A case is not applicable when the profile lacks a field the behaviour requires, when its dtype is not
among the profile's dtypes, or when its layout is not among the layouts the behaviour's layer offers
(the profile field named by the behaviour's ``layouts_from``).
"""


def not_applicable(behaviour, params: dict, profile) -> str | None:
    """The reason the case does not apply, or None when it does."""
    for path in behaviour.requires:
        if not profile.has(path):
            return f"{profile.data['framework']} profile has no {path}"
    if "dtype" in params and params["dtype"] not in profile.get("dtypes"):
        return f"dtype {params['dtype']} not in the profile's dtypes {profile.get('dtypes')}"
    if "layout" in params and params["layout"] not in profile.get(behaviour.layouts_from, {}):
        return f"layout {params['layout']} not in {behaviour.layouts_from} of the profile"
    return None

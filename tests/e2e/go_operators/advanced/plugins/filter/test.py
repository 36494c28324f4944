"""The `test` filter of the advanced test operator: whether a value is a non-empty string."""


def non_empty_text(value):
    return isinstance(value, str) and value != ""


class FilterModule:
    def filters(self):
        return {"test": non_empty_text}

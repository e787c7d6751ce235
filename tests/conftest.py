import noah_mm  # noqa: F401  (registers NOAHHead and friends)

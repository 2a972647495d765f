"""Teaching: numerical gradient checks (``gradcheck``), the backward pass made visible (``explain``) and
exercises with checks (``exercises``)."""

"""The family's photo library and the ``show_photos`` tool's choice.

``imaging`` decodes an upload with Pillow (HEIC through pillow-heif), turns it upright and re-encodes
it without metadata; ``service`` checks the limits, stores and edits photos; ``choose`` is the pure,
deterministic choice of what to show; ``answer`` words the tool's answer to the model (family text as
untrusted data) and the notice for the elder's page.
"""

"""The use cases below both the CLI and the HTTP service: predict, edit, search and re-pose over image
files or uploaded images.

Each use case decodes its input (:mod:`.images`: size, pixel and format limits, grayscale and alpha
converted), fits it to the model, runs the model, pastes results back at the input's resolution and
refuses bad input with an :class:`~fashionlab.errors.InputError` naming the file or field, before anything
is written. The CLI (``fashionlab edit|pose|predict|search``) and the service (``fashionlab serve``) are thin
layers over these functions; :mod:`.outputs` names result files and never overwrites a user's folder.
"""

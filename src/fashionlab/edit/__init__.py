"""Editing for users: files of any size in, edited files out (``fashionlab edit``); the models are in
:mod:`fashionlab.models.editing`."""

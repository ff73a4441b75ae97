"""Model backends and ``load_model``, which turns a model spec into a Model."""
from .base import Completion, Message, Model, Usage

__all__ = ["Completion", "Message", "Model", "Usage"]

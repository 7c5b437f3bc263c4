"""REST API for Fooocus 2.5.5, mounted on Fooocus's own Gradio app."""

__version__ = "0.1.0"

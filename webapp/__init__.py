"""What the Gradio demo does, without the UI: reading, attention views, saving corrections."""

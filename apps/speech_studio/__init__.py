"""Speech studio: transcribe and subtitle audio, speak text, evaluate recognition, talk to the support bot."""

"""Speech: recognition (``core.speech.asr``) and synthesis (``core.speech.tts``), each an interface with engines
behind it chosen by the ``apps.speech`` settings; audio decoding and encoding in ``core.speech.audio``."""

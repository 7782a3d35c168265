"""The language model: in-process llama.cpp, an OpenAI-compatible server, and the one worker in front."""

"""Stubs of project 3, the char LM and its decoding: RNN and LSTM cells, temperature, top-k, top-p, beam
search, a training step."""

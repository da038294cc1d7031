"""The Cloutility simulator, exercised through plain httpx (in-process and on a socket)."""

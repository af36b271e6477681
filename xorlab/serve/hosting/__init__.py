"""How the data plane is hosted: gunicorn's master and workers that run it (its configuration,
xorlab's variants of its gevent and sync workers, its hooks and its own answers), and the one list of
what xorlab relies on in gunicorn, onnxruntime and prometheus_client that they do not promise
(internals.py). Nothing in the data plane's own modules is about gunicorn."""

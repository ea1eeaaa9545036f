"""``featurestore serve``: the SageMaker Feature Store HTTP APIs over a local store, for boto3 clients.

``app`` (ASGI app and ``serve``), ``runtime`` and ``control`` (the two services' operations),
``search``, ``shapes`` (engine objects <-> wire shapes), ``model`` (request validation against
the vendored ``service_models``), ``auth`` (SigV4 and key policies), ``errors`` (the wire error
mapping), ``paging``, ``call`` and ``process`` (the server in a child process, for tests and benchmarks).
"""

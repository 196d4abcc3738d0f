"""The builders: a source (a training bundle, a model) becomes an image, and is published.

They sit on :mod:`fairing_magics.registry` (which reads bases and pushes) and
:mod:`fairing_magics.oci` (the values they make). The whole path, from the request to the
reference by digest, is :meth:`fairing_magics.image.publish.ImageService.publish`.

- :mod:`.publish`: :class:`~.publish.ImageService`, the one build-and-publish path (stages,
  package index, ECR repositories, the tag); ``--registry`` and ``--dry-run`` plan lines.
- :mod:`.builder`: the ``Builder`` role, :class:`~.builder.BuildRequest`, and
  :class:`~.builder.AppendBuilder` (no daemon).
- :mod:`.serving`: the serving image of a model (:class:`~.serving.ServingBuilder`).
- :mod:`.docker_builder`: ``--builder docker`` (a Docker Engine builds and pushes).
- :mod:`.layout`: where our files live in an image; the :class:`~.layout.Payload` of a bundle.
- :mod:`.base`: base images resolved once, their Python and C library.
- :mod:`.deps`: the dependency layer, installed from wheels and cached.
- :mod:`.libc`: the C library of a base, read from its layers.
- :mod:`.package_index`: which package index the requirements come from.
"""

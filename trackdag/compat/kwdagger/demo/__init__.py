"""KWDagger's ``kwdagger.demo``: the demo pipelines, on trackdag (see :mod:`.demodata`)."""

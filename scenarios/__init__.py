"""The scenarios shipped with the mock (``*.yaml``, package data of
``hybridsoa.mock.scenarios``); ``hybridsoa-mock scenario list`` lists them."""

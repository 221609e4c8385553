"""One adapter module per framework (layerconf.adapters): the interface is base.py; which module serves
which flavour is the flavour's manifest (specs/flavours/<flavour>.yaml), read by layerconf.flavours."""

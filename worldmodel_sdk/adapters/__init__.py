"""Bridges between world models and other agent frameworks, one module per framework.

- `mmlf`: the MMLF model protocol over a world model, and an MMLF-style environment;
- `pymasep`: a pymasep ``Game`` whose dynamics come from a world model;
- `torchrl`: a TorchRL ``EnvBase`` over a world model;
- `palaestrai`: a palaestrAI ``Environment`` simulated by a world model, and a reader
  of palaestrAI run stores.

Each module needs its framework, installed through an extra of the same name
(``pip install 'worldmodel-sdk[torchrl]'``); importing one without it raises an
``ImportError`` that names the extra. Nothing is imported here, so importing this
package never needs a framework.
"""

from __future__ import annotations

__all__: list[str] = []

"""layerconf audit: the catalogue's semantics checked on a user's own model (issue 27).

``layerconf audit --flavour F module:function`` loads the user's model and an example batch (and optionally the
training step they run), finds every training-flag layer the flavour's profile names, runs the step and an
inference call on a copy (or restores every variable afterwards), and reports per layer: its settings in neutral
words beside the framework's spelling, its mode in each pass measured from its output or its statistics, what the
step changed, whether it is frozen, its output against the float64 reference, and the hazards with their fixes.

records   what a framework part observes (Layer, Call) and what is measured from it
neutral   the profile's classes and argument names, read back as neutral words
measure   each pass's mode and its check against the reference
hazards   the rules, each a sentence and the fix in the framework's words
text      the terminal table and the JSON document
target    TARGET (module:function or path.py:function) loaded and its result checked
command   the subcommand: flavour, environment, exit status
compare   --compare A B: two models' layers paired by order or name, each difference with its size and its fix
compare_text  --compare's terminal table
onnx_graph  --compare's ONNX part: a .onnx file run by ONNX Runtime, its layers found from the nodes
pytorch, keras3, tf_keras, flax_nnx, flax_linen, paddlepaddle, mlx_nn, equinox   the framework parts (one per
                  framework; import no framework until observe() is called)
hooked    what the eager frameworks with a module tree share (torch, paddle, mlx): copies, forward hooks, state
"""

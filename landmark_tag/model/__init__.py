"""The model contract between training and scanning: the checkpoint file and the checks it passes
when it loads (`checkpoint`, `checks`), the architectures it can name (`architectures`), the input
pixels (`preprocessing`, `transforms`), the landmark score (`openset`), the places of its classes
(`gazetteer`) and the small photos it carries for int8 (`calibration_photos`)."""

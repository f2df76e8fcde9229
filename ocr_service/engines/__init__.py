"""Image engines of the OCR service: binarization, deskew, upscale, recognition.

Each engine is a plain function or class over NumPy images, independent of HTTP and of the task store,
so one can be swapped without touching the API.
"""

"""Execute, on either engine: photo -> EXIF and pixels -> model -> judged rows -> sidecars."""

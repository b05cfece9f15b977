/* clearcube: what the Landsat readers (landsat.c: scenes, espa.c: the ESPA
 * series) share. Not part of the public interface. */
#ifndef CC_IO_LANDSAT_LANDSAT_IMPL_H
#define CC_IO_LANDSAT_LANDSAT_IMPL_H

/* 1 if path is a regular file (a band the product or the series lists). */
int cc_landsat_file_exists(const char *path);

#endif

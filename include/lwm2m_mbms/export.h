/* export.h - symbol visibility: only LMM_API names leave the shared library. */
#ifndef LWM2M_MBMS_EXPORT_H
#define LWM2M_MBMS_EXPORT_H

#if defined(LMM_BUILDING_LIBRARY) && defined(__GNUC__)
#define LMM_API __attribute__((visibility("default")))
#else
#define LMM_API
#endif

#endif

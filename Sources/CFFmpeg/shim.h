#ifndef CTLIVE_CFFMPEG_SHIM_H
#define CTLIVE_CFFMPEG_SHIM_H
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/channel_layout.h>
#include <libavutil/sha.h>
#include <libavutil/mem.h>

/* Function-like macros are invisible to Swift: re-export the ones we need. */
static inline int ctlive_averror(int e) { return AVERROR(e); }
static inline int ctlive_averror_eof(void) { return AVERROR_EOF; }
static inline int ctlive_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int64_t ctlive_av_nopts_value(void) { return AV_NOPTS_VALUE; }

#endif

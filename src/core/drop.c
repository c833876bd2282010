/* drop.c — names of the drop reasons (see drop.h). */
#include "core/drop.h"

static const char *const names[DROP__COUNT] = {
#define DROP_NAME(name, text) [DROP_##name] = #name,
	DROP_REASONS(DROP_NAME)
#undef DROP_NAME
};

static const char *const texts[DROP__COUNT] = {
#define DROP_TEXT(name, text) [DROP_##name] = text,
	DROP_REASONS(DROP_TEXT)
#undef DROP_TEXT
};

const char *drop_name(enum drop_reason r)
{
	return (unsigned)r < DROP__COUNT ? names[r] : "UNKNOWN";
}

const char *drop_text(enum drop_reason r)
{
	return (unsigned)r < DROP__COUNT ? texts[r] : "unknown";
}

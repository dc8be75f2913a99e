#ifndef ORCHION_CHTTPPARSER_SHIM_H
#define ORCHION_CHTTPPARSER_SHIM_H
#include <http_parser.h>

/* Accessors for macros and bitfields Swift cannot use directly. No logic. */
static inline unsigned orchion_http_errno(const http_parser *parser) {
  return HTTP_PARSER_ERRNO(parser);
}
static inline unsigned orchion_http_method(const http_parser *parser) {
  return parser->method;
}
#endif

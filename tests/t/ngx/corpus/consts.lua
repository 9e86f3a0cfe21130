local names = { "OK", "ERROR", "AGAIN", "DONE", "DECLINED",
  "HTTP_GET", "HTTP_HEAD", "HTTP_POST", "HTTP_PUT", "HTTP_DELETE", "HTTP_MKCOL", "HTTP_COPY",
  "HTTP_MOVE", "HTTP_OPTIONS", "HTTP_PROPFIND", "HTTP_PROPPATCH", "HTTP_LOCK", "HTTP_UNLOCK",
  "HTTP_PATCH", "HTTP_TRACE", "HTTP_CONTINUE", "HTTP_SWITCHING_PROTOCOLS", "HTTP_OK",
  "HTTP_CREATED", "HTTP_ACCEPTED", "HTTP_NO_CONTENT", "HTTP_PARTIAL_CONTENT",
  "HTTP_SPECIAL_RESPONSE", "HTTP_MOVED_PERMANENTLY", "HTTP_MOVED_TEMPORARILY", "HTTP_SEE_OTHER",
  "HTTP_NOT_MODIFIED", "HTTP_TEMPORARY_REDIRECT", "HTTP_PERMANENT_REDIRECT", "HTTP_BAD_REQUEST",
  "HTTP_UNAUTHORIZED", "HTTP_PAYMENT_REQUIRED", "HTTP_FORBIDDEN", "HTTP_NOT_FOUND",
  "HTTP_NOT_ALLOWED", "HTTP_NOT_ACCEPTABLE", "HTTP_REQUEST_TIMEOUT", "HTTP_CONFLICT",
  "HTTP_GONE", "HTTP_UPGRADE_REQUIRED", "HTTP_TOO_MANY_REQUESTS", "HTTP_CLOSE", "HTTP_ILLEGAL",
  "HTTP_INTERNAL_SERVER_ERROR", "HTTP_METHOD_NOT_IMPLEMENTED", "HTTP_BAD_GATEWAY",
  "HTTP_SERVICE_UNAVAILABLE", "HTTP_GATEWAY_TIMEOUT", "HTTP_VERSION_NOT_SUPPORTED",
  "HTTP_INSUFFICIENT_STORAGE", "STDERR", "EMERG", "ALERT", "CRIT", "ERR", "WARN", "NOTICE",
  "INFO", "DEBUG" }
for _, n in ipairs(names) do ngx.say(n, "=", tostring(ngx[n])) end
ngx.say(ngx.null == ngx.null, " ", type(ngx.null))
ngx.say(ngx.config.subsystem, " ", type(ngx.config.debug), " ", ngx.config.ngx_lua_version, " ",
        type(ngx.config.prefix()), " ", ngx.get_phase(), " ", ngx.is_subrequest)
ngx.say(type(ngx.worker.id()), " ", type(ngx.worker.count()), " ", type(ngx.worker.pid()), " ",
        ngx.worker.exiting())

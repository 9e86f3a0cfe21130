-- ngx.http_time, ngx.cookie_time and ngx.parse_http_time at their edges:
-- nginx's own arithmetic (a negative time is the epoch, a year past 9999
-- its last second, NaN and what no time_t holds the epoch too)
local big = {1e17, 1e18, 2^53, 2^62, 2^63, -2^63, 9.2e18, 1/0, -1/0, 0/0, -0.5, -1,
             253402300799, 253402300800, 951782400, 4107542400, 2^31 - 1}
for _, t in ipairs(big) do
  ngx.say(ngx.http_time(t), " | ", ngx.cookie_time(t))
end
for _, s in ipairs({
  "Tue, 29 Feb 2000 00:00:00 GMT", "Mon, 29 Feb 1900 00:00:00 GMT", "Sun, 29 Feb 2004 12:00:00 GMT",
  "Thu, 29 Feb 2001 00:00:00 GMT", "Thu, 00 Jan 1970 00:00:00 GMT", "Wed, 31 Dec 1969 23:59:59 GMT",
  "Wed, 31 Dec 1969 23:59:58 GMT", "Sun Nov 06 08:49:37 1994", "Sun Nov 6 08:49:37 1994",
  "Sun Nov  6 08:49:37 1994 and more", "Sun, 06 Nov 1994 08:49:37 GMT trailing",
  "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49", "Sun, 06 Xyz 1994 08:49:37 GMT",
  "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Jxx 1994 08:49:37 GMT", "Sun, 06 Mxx 1994 08:49:37 GMT",
  "Sun, 06 Axx 1994 08:49:37 GMT", "Sun, 06 Nov 19945 08:49:37 GMT", "Sunday, 06-Nov-69 08:49:37 GMT",
  "Sunday, 06-Nov-70 08:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sunday 06-Nov-94 08:49:37 GMT",
  "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 23:60:00 GMT", "Sun, 06 Nov 1994 23:59:60 GMT",
  "Sun, 31 Apr 1994 00:00:00 GMT", "Sun, 30 Apr 1994 00:00:00 GMT", "Sun, 32 Dec 1994 00:00:00 GMT",
  "Sun, 01 Jan 0000 00:00:00 GMT", "Sun, 01 Jan 9999 23:59:59 GMT", ",", " ", "Sun,", "Sun",
  "Sun,                    06 Nov 1994 08:49:37 GMT", "x, 06 Nov 1994 08:49:37 GMT",
  "Sun Nov 6 8:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov  6 08-49-37 1994",
}) do
  local t = ngx.parse_http_time(s)
  ngx.say(string.format("%q", s), " -> ", tostring(t), t and (" " .. ngx.http_time(t)) or "")
end

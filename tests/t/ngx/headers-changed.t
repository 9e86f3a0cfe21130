# ngx.req.get_headers(max) once the script changed the request's headers,
# against OpenResty's: the same script run by Debian's ngx_lua and by
# luafcgid behind the same nginx (tests/lib/LFNgx.pm), asked with the bytes
# written here, since the order the client sent matters: a header changed
# (set_header, or Content-Length by set_body_data and finish_body) keeps
# its place and counts towards max; one the script adds comes after the
# sent ones; a cleared one is gone, and "truncated" says max was reached.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFNgx;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();

my $lua = <<'LUA';
local a = ngx.req.get_uri_args()
ngx.req.read_body()
if a.set then ngx.req.set_body_data("12345") end
if a.hdr then ngx.req.set_header("Content-Length", "9") end
if a.fin then ngx.req.init_body() ngx.req.append_body("1") ngx.req.finish_body() end
if a.add then ngx.req.set_header("X-Added", "1") ngx.req.set_header("X-Later", "2") end
if a.clear then ngx.req.clear_header("X-A") end
for i = 1, 8 do
  local h, e = ngx.req.get_headers(i)
  local k = {}
  for n in pairs(h) do k[#k + 1] = n end
  table.sort(k)
  ngx.say(i, " ", table.concat(k, ","), " ", tostring(e))
end
LUA

# A chunked body: the client sent no Content-Length, so there is none to
# list (nginx's CONTENT_LENGTH is its count of the body) until the script
# sets a body, which adds one, spelt Content-Length.
my $chunked = <<'LUA';
local function show(what)
  local h = ngx.req.get_headers(nil, true)
  local k = {}
  for n, v in pairs(h) do if n ~= "Host" then k[#k + 1] = n .. "=" .. v end end
  table.sort(k)
  ngx.say(what, ": ", table.concat(k, " "), " | ", tostring(ngx.var.http_content_length))
end
ngx.req.read_body()
show("read")
ngx.req.set_body_data("xyzw")
show("set")
ngx.req.init_body()
ngx.req.append_body("12")
ngx.req.finish_body()
show("finished")
LUA

my $h = LFNgx->new(scripts => { 'h.lua' => $lua, 'chunked.lua' => $chunked });
$h->start;
for my $q (qw(none set hdr fin add clear set&add&clear)) {
    my $req = "POST /h.lua?$q=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nContent-Length: 8\r\n"
            . "Content-Type: text/plain\r\nX-B: 2\r\nConnection: close\r\n\r\nold body";
    $req =~ s/\?set&add&clear=1/?set=1&add=1&clear=1/;
    my $or = $h->request_raw('or', $req);
    my $lf = $h->request_raw('lf', $req);
    is($or->{status}, 200, "$q: ngx_lua answers");
    is($lf->{body}, $or->{body}, "$q: get_headers(1..8) as ngx_lua lists them")
        or diag("ngx_lua:\n$or->{body}\nluafcgid:\n$lf->{body}");
}
{
    my $req = "POST /chunked.lua HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    my $or = $h->request_raw('or', $req);
    my $lf = $h->request_raw('lf', $req);
    is($or->{status}, 200, 'chunked: ngx_lua answers');
    is($lf->{body}, $or->{body}, 'chunked: no Content-Length listed till the script sets a body')
        or diag("ngx_lua:\n$or->{body}\nluafcgid:\n$lf->{body}");
}
$h->stop;
done_testing;

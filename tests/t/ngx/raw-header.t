# ngx.req.raw_header against OpenResty's: the same script run by Debian's
# ngx_lua (content_by_lua_file) and by luafcgid behind the same nginx
# (tests/lib/LFNgx.pm), asked with the bytes written here.
#
# ngx_lua gives the bytes nginx received: the request line (unless asked
# raw_header(true)), every header line as the client wrote it, and the
# blank line that ends them; never the body, and never what set_header or
# clear_header changed. luafcgid sees only the FastCGI parameters and
# makes it again from them (README, "Differences a FastCGI server cannot
# avoid"): METHOD REQUEST_URI SERVER_PROTOCOL, then each header nginx
# passed as "Name: value", the name capitalised word by word and the value
# as nginx parsed it, every line ended by CRLF. So where the client wrote
# names so and ended lines with CRLF the two are the same bytes; where it
# did not, luafcgid's is exactly ngx_lua's put through that rule.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use LFNgx;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();

# ?arg=true|false|1 passes that to raw_header, none passes nothing; ?set
# changes the headers first, ?read reads the body first.
my $lua = <<'LUA';
local a = ngx.req.get_uri_args()
if a.set then
  ngx.req.set_header("X-Added", "1")
  ngx.req.clear_header("X-Custom")
  ngx.req.set_header("Host", "other.example")
end
if a.read then ngx.req.read_body() end
local arg = ({ ["true"] = true, ["false"] = false, ["1"] = 1 })[a.arg or ""]
local s
if a.arg then s = ngx.req.raw_header(arg) else s = ngx.req.raw_header() end
ngx.print(s)
LUA

my $h = LFNgx->new(scripts => { 'raw.lua' => $lua });
$h->start;

# The header part of a request: what ngx_lua must give back.
sub head_of { my ($req) = @_; return $req =~ /\A(.*?\n\r?\n)/s ? $1 : $req }

# ngx_lua's raw header as luafcgid makes it again from the parameters.
sub from_params {
    my ($raw, $with_line) = @_;
    my @lines = split /\r?\n/, $raw;
    my $out = '';
    $out .= shift(@lines) . "\r\n" if $with_line;
    for (@lines) {
        my ($name, $value) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        next unless $name =~ /^[A-Za-z0-9-]+$/;    # nginx passes no other name
        $out .= join('-', map { ucfirst lc } split /-/, $name, -1) . ": $value\r\n";
    }
    return "$out\r\n";
}

# Both sides asked REQ; the two bodies, after checking both answered 200.
sub both {
    my ($name, $req) = @_;
    my $or = $h->request_raw('or', $req);
    my $lf = $h->request_raw('lf', $req);
    is($or->{status}, 200, "$name: ngx_lua answers") or diag($or->{body});
    is($lf->{status}, 200, "$name: luafcgid answers") or diag($lf->{body});
    return ($or->{body}, $lf->{body});
}

my $long = join('', map { chr(97 + $_ % 26) } 0 .. 2999);    # past nginx's 1k header buffer
my $get = "GET /raw.lua?a=1&b=%20x HTTP/1.1\r\nHost: h.example\r\nX-Custom: one\r\n"
    . "X-Dup: a\r\nX-Dup: b\r\nCookie: c=1\r\nCookie: d=2\r\nAccept: */*\r\n"
    . "X-Long: $long\r\nConnection: close\r\n\r\n";

my ($or, $lf) = both('GET, several headers', $get);
is($or, head_of($get), 'ngx_lua: raw_header() is the request line and the headers as sent, with the blank line');
is($lf, $or, 'luafcgid: the same bytes (repeated headers each on its line, in order, the long one whole)');

for my $arg (qw(true 1)) {
    (my $req = $get) =~ s{\?a=1}{?arg=$arg&a=1};
    ($or, $lf) = both("GET, raw_header($arg)", $req);
    (my $want = head_of($req)) =~ s/^[^\n]*\n//;
    is($or, $want, "ngx_lua: raw_header($arg) leaves the request line out");
    is($lf, $or, "luafcgid: the same");
}
(my $req = $get) =~ s{\?a=1}{?arg=false&a=1};
($or, $lf) = both('GET, raw_header(false)', $req);
is($or, head_of($req), 'ngx_lua: raw_header(false) has the request line');
is($lf, $or, 'luafcgid: the same');

my $post = "POST /raw.lua?read=1 HTTP/1.1\r\nHost: h.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    . "Content-Length: 11\r\nConnection: close\r\n\r\nx=1&y=hello";
($or, $lf) = both('POST with a body', $post);
is($or, head_of($post), 'ngx_lua: a POST\'s raw header, without the body read');
is($lf, $or, 'luafcgid: the same');
($req = $post) =~ s{\?read=1}{?read=1&arg=true};
($or, $lf) = both('POST, raw_header(true)', $req);
is($lf, $or, 'luafcgid: the same without the request line');

my $set = "GET /raw.lua?set=1 HTTP/1.1\r\nHost: h.example\r\nX-Custom: one\r\nConnection: close\r\n\r\n";
($or, $lf) = both('after set_header and clear_header', $set);
is($or, head_of($set), 'ngx_lua: the header received, not what set_header and clear_header made');
is($lf, $or, 'luafcgid: the same');

# What only the bytes hold: the client's spelling of a name, bare LF line
# ends, spaces after the colon, a name nginx does not pass (an underscore:
# underscores_in_headers is off).
my $odd = "GET /raw.lua HTTP/1.0\nHost: h.example\nx-MiXeD-case: Two\nX-Sp:    spaced\nX_Under: u\n"
    . "content-TYPE: text/plain\n\n";
($or, $lf) = both('GET, the bytes differ from the parameters', $odd);
is($or, head_of($odd), 'ngx_lua: the bytes as sent, bare LF and all');
isnt($lf, $or, 'luafcgid: not the same bytes');
is($lf, from_params($or, 1), 'luafcgid: the parameters: names capitalised, values trimmed, CRLF, no X_Under');
is($lf, "GET /raw.lua HTTP/1.0\r\nHost: h.example\r\nX-Mixed-Case: Two\r\nX-Sp: spaced\r\n"
      . "Content-Type: text/plain\r\n\r\n", '... written out');
($req = $odd) =~ s{raw\.lua}{raw.lua?arg=true};
($or, $lf) = both('the same, raw_header(true)', $req);
is($lf, from_params($or, 0), 'luafcgid: the parameters without the request line');

$h->stop;
done_testing;

# luafcgid.session: a session in an AES-256-GCM cookie opens on another
# daemon that shares only the secret file; every tampering (each byte
# changed, cut short, another secret, another cookie name, expired) gives
# an empty session, never an error; rotation keeps old cookies open while
# new ones use the new secret; "shared:NAME" keeps the data server-side,
# and regenerate and destroy end the old id; a cookie over 4 KB is an
# error that names the server-side storages; a secret file others can
# read is refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes ();
use MIME::Base64 ();
use LFTest qw(wait_for spew);

my $script = <<'LUA';
local session = require "luafcgid.session"
local lf = require "luafcgid"
function main(env, req)
  local q = lf.parse(env.QUERY_STRING)
  local opts = { secret_file = q.secret, storage = q.storage, cookie_name = q.name,
                 idle_timeout = tonumber(q.idle), absolute_timeout = tonumber(q.absolute),
                 secure = q.secure == "1", samesite = q.samesite, path = q.path }
  local s, exists = session.start(req, opts)
  req:header("Content-Type", "text/plain")
  if q.op == "set" then
    s:set(q.k, q.v); s:set("n", (s:get("n") or 0) + 1); s:save()
  elseif q.op == "big" then
    s:set("big", string.rep("x", tonumber(q.size))); s:save()
  elseif q.op == "regenerate" then
    s:regenerate()
  elseif q.op == "destroy" then
    s:destroy()
  end
  req:puts(tostring(exists), " ", tostring(s:get(q.k or "user")), " ", tostring(s:get("n")))
end
LUA

my $keys = tempdir('lf-keys.XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub secret_file {
    my ($name, @lines) = @_;
    my $f = "$keys/$name";
    spew($f, join('', map { "$_\n" } @lines));
    chmod 0600, $f;
    return $f;
}
my $old = 'an old secret of more than thirty-two bytes, 1';
my $new = 'a new secret of more than thirty-two bytes, 22';
my $key = secret_file('key', $old);
my $other = secret_file('other', 'another secret of more than thirty-two bytes');

sub daemon {
    my $t = LFTest->new(conf => { workers => 2, shared => \'{ sessions = "1m" }' }, scripts => { 's.lua' => $script });
    $t->start;
    return $t;
}

# One request: (body, the cookie it sets or undef, the Set-Cookie line).
sub req {
    my ($t, $query, $cookie) = @_;
    my $r = $t->get('s.lua', QUERY_STRING => $query, defined $cookie ? (HTTP_COOKIE => $cookie) : ());
    my $line = $r->{headers}{'set-cookie'};
    my ($value) = defined $line ? $line =~ /^[^=]+=([^;]*)/ : ();
    return ($r->{status} == 200 ? $r->{body} : "HTTP $r->{status}: $r->{body}", $value, $line);
}

my ($a, $b) = (daemon(), daemon());

# ---- across daemons -------------------------------------------------------
my ($body, $c, $line) = req($a, "secret=$key&op=set&k=user&v=ann");
is($body, 'false ann 1', 'daemon A starts a session');
like($line, qr/^session=[A-Za-z0-9_-]+; Path=\/; Max-Age=900; HttpOnly; SameSite=Lax$/,
     'its cookie: HttpOnly, SameSite=Lax, Path=/, Max-Age the idle timeout');
($body) = req($b, "secret=$key", "session=$c");
is($body, 'true ann 1', 'daemon B, sharing only the secret file, opens it');
my ($body2, $c2) = req($b, "secret=$key&op=set&k=user&v=bob", "session=$c");
is($body2, 'true bob 2', 'and saves it');
is((req($a, "secret=$key", "other=1; session=$c2"))[0], 'true bob 2', 'which A opens in turn');

# ---- tampering --------------------------------------------------------------
my @alphabet = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_');
my ($opened, $errors) = (0, 0);
for my $i (0 .. length($c) - 1) {
    my $x = $c;
    my $ch = substr($x, $i, 1);
    substr($x, $i, 1) = $ch eq 'A' ? 'B' : 'A';
    my ($got) = req($a, "secret=$key", "session=$x");
    $opened++ if $got !~ /^false nil nil$/;
    $errors++ if $got =~ /^HTTP/;
}
is("$opened $errors", '0 0', 'each of the ' . length($c) . ' characters changed: an empty session, no error');
($opened, $errors) = (0, 0);
my $raw = MIME::Base64::decode_base64(($c =~ tr/-_/+\//r) . '=' x ((4 - length($c) % 4) % 4));
for my $i (0 .. length($raw) - 1) {
    my $x = $raw;
    substr($x, $i, 1) = chr(ord(substr($x, $i, 1)) ^ 1);
    (my $enc = MIME::Base64::encode_base64($x, '')) =~ tr/+\//-_/;
    $enc =~ s/=+$//;
    my ($got) = req($a, "secret=$key", "session=$enc");
    $opened++ if $got !~ /^false nil nil$/;
    $errors++ if $got =~ /^HTTP/;
}
is("$opened $errors", '0 0', 'each of the ' . length($raw) . ' sealed bytes flipped (nonce, data, tag): empty, no error');
($opened, $errors) = (0, 0);
for my $n (0 .. length($c) - 1) {
    my ($got) = req($a, "secret=$key", 'session=' . substr($c, 0, $n));
    $opened++ if $got !~ /^false nil nil$/;
    $errors++ if $got =~ /^HTTP/;
}
is("$opened $errors", '0 0', 'cut short at every length: an empty session, no error');
is((req($a, "secret=$key", "session=${c}AAAA"))[0], 'false nil nil', 'with bytes added: empty');
is((req($a, "secret=$key", 'session=!!not base64!!'))[0], 'false nil nil', 'not base64url: empty');
is((req($a, "secret=$other", "session=$c"))[0], 'false nil nil', 'sealed with another secret: empty');
is((req($a, "secret=$key&name=other", "other=$c"))[0], 'false nil nil', 'under another cookie name: empty');
is((req($a, "secret=$key&storage=shared:sessions", "session=$c"))[0], 'false nil nil',
   'a cookie-stored session given to the server-side storage: empty');

# expiry: absolute, then idle (whole seconds; waited for, bounded)
{
    my ($b1, $ce) = req($a, "secret=$key&op=set&k=user&v=eve&absolute=1");
    is($b1, 'false eve 1', 'a session with absolute_timeout = 1');
    ok(wait_for(sub { (req($a, "secret=$key&absolute=1", "session=$ce"))[0] eq 'false nil nil' }, 5),
       'past its absolute timeout: empty');
    my (undef, $ci) = req($a, "secret=$key&op=set&k=user&v=ida&idle=1");
    ok(wait_for(sub { (req($a, "secret=$key&idle=1", "session=$ci"))[0] eq 'false nil nil' }, 5),
       'idle past its idle timeout: empty');
}

# a session only read, never written, stays alive while its visitor comes
# back within the idle timeout: start() saves it again (a new cookie) once
# a quarter of the timeout has passed since its last save
for my $st ('cookie', 'shared:sessions') {
    my (undef, $cr) = req($a, "secret=$key&storage=$st&op=set&k=user&v=rita&idle=3");
    my ($t0, $n, $renewed, @bad) = (Time::HiRes::time(), 0, 0);
    while (Time::HiRes::time() - $t0 < 7 && $n++ < 100) {    # past twice the timeout
        Time::HiRes::sleep(0.5);
        my ($b, $c2) = req($a, "secret=$key&storage=$st&idle=3", "session=$cr");
        push @bad, $b unless $b eq 'true rita 1';
        $renewed++, $cr = $c2 if defined $c2;
    }
    is_deeply(\@bad, [], "$st: read every 0.5 s for 7 s with idle_timeout = 3, never written: alive");
    cmp_ok($renewed, '>=', 2, "$st: start() sent it again ($renewed times in $n answers)");
    cmp_ok($renewed, '<', $n, "$st: not on every answer");
}

# ---- rotation ---------------------------------------------------------------
{
    my (undef, $before) = req($a, "secret=$key&op=set&k=user&v=old");
    secret_file('key', $new, $old);
    is((req($a, "secret=$key", "session=$before"))[0], 'true old 1', 'after rotation, a cookie of the old secret still opens');
    my (undef, $after) = req($a, "secret=$key&op=set&k=user&v=new");
    my $only_new = secret_file('only-new', $new);
    my $only_old = secret_file('only-old', $old);
    is((req($a, "secret=$only_new", "session=$after"))[0], 'true new 1', 'new cookies are sealed with the new secret');
    is((req($a, "secret=$only_old", "session=$after"))[0], 'false nil nil', 'not with the old one');
    is((req($b, "secret=$only_new", "session=$before"))[0], 'false nil nil', 'the old secret dropped: its cookies are void');
}

# ---- server-side ------------------------------------------------------------
{
    my $q = "secret=$key&storage=shared:sessions";
    my ($b1, $s1, $l1) = req($a, "$q&op=set&k=user&v=sam");
    is($b1, 'false sam 1', 'storage = "shared:sessions"');
    my (undef, $s2) = req($a, "$q&op=big&size=100000", "session=$s1");
    ok(length($s2) < 200, 'the cookie holds only a sealed id, whatever the data (' . length($s2) . ' bytes)');
    like((req($a, $q, "session=$s2"))[0], qr/^true sam 1$/, 'the data is kept in the dictionary');
    is((req($b, $q, "session=$s2"))[0], 'false nil nil', 'so another daemon does not have it');
    my (undef, $s3) = req($a, "$q&op=regenerate", "session=$s2");
    isnt($s3, $s2, 'regenerate: a new cookie');
    is((req($a, $q, "session=$s3"))[0], 'true sam 1', 'with the same data');
    is((req($a, $q, "session=$s2"))[0], 'false nil nil', 'and the old id is void');
    my (undef, undef, $gone) = req($a, "$q&op=destroy", "session=$s3");
    like($gone, qr/^session=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly/,
         'destroy clears the cookie');
    is((req($a, $q, "session=$s3"))[0], 'false nil nil', 'and the data');
}

# ---- options and errors -----------------------------------------------------
{
    my (undef, undef, $l) = req($a, "secret=$key&op=set&k=u&v=1&secure=1&samesite=Strict&path=/app&name=sid&idle=0&absolute=0");
    like($l, qr/^sid=[^;]+; Path=\/app; HttpOnly; SameSite=Strict; Secure$/,
         'cookie_name, path, samesite, secure; no timeouts: a browser-session cookie');
    my ($big) = req($a, "secret=$key&op=big&size=5000");
    like($big, qr/^HTTP 500: .*the session takes \d+ bytes in its cookie, over 4096; keep it on the server: storage = &quot;shared:NAME&quot;/s,
         'a cookie over 4 KB is an error that names the server-side storages');
    like((req($a, "secret=$key&storage=redis:127.0.0.1"))[0],
         qr/storage &quot;redis:127.0.0.1&quot; must be &quot;redis:\/\/host:port\/db&quot;/,
         'a redis storage not written as a URL says how it is written');
    my $open = secret_file('open', $new);
    chmod 0640, $open;
    like((req($a, "secret=$open"))[0], qr/the secret file \S+ must be the daemon&#39;s user&#39;s and no one else&#39;s/,
         'a secret file others can read is refused');
    my $short = secret_file('short', 'too short');
    like((req($a, "secret=$short"))[0], qr/line 1 is shorter than 32 bytes/, 'a short secret is refused');
    like((req($a, "op=set"))[0], qr/opts.secret_file must name the secret file/, 'no secret file: an error that says how');
}

$a->stop;
$b->stop;
done_testing();

(ns sockets.core
  "The CHICKEN socket egg's API for Clojure. Names follow the egg (`i/o` -> `io`, other `/` -> `-`);
  constants are keywords (:af/inet, :sock/stream, :ipproto/tcp, :shut/wr, :msg/peek, :ai/passive,
  :ni/numerichost, :so/reuseaddr, ...) and platform integers are accepted wherever a keyword is.

  Building blocks:
    sockets      socket socket? socket-fileno socket-family socket-type socket-protocol
                 socketpair fd->socket  (beyond the egg: socketpair(2), adopting an open fd)
                 socket-dup socket-detach  (beyond the egg: CPython's dup/detach, fd hand-offs)
    addresses    inet-address unix-address sockaddr? sockaddr-family sockaddr-address sockaddr-port
                 sockaddr-path sockaddr->string string->sockaddr  (sockaddrs are plain maps)
    lookup       address-information addrinfo? addrinfo-* name-information
    connections  socket-connect socket-connect-ai connect-ai-happy socket-bind socket-listen socket-accept
                 socket-accept-ready? socket-shutdown socket-close socket-close* socket-name socket-peer-name
                 socket-blocking? set-socket-blocking!  (beyond the egg: where a blocked thread waits)
    datagrams    socket-receive-many! socket-receive-many socket-send-many  (beyond the egg:
                 many datagrams per system call, recvmmsg/sendmmsg; sockets.datagrams with
                 these parameters' values as default timeouts)
    data         socket-receive! socket-receive socket-receive-from! socket-receive-from socket-receive-ready?
                 socket-send socket-send-to socket-send-all
                 socket-send-file  (beyond the egg: a file over a stream socket, sendfile(2))
    parameters   *socket-connect-timeout* *socket-accept-timeout* *socket-receive-timeout*
                 *socket-send-timeout* *socket-send-buffer-size* *socket-send-size* *socket-receive-buffer-size*

  Blocking calls block only the calling thread. Every failure is a `sockets.SocketException`
  (an IOException) whose ex-data is {:op :errno :errno-code :address :kind}, :kind one of
  :timeout :transient :unsupported :fatal :closed :interrupted :invalid :lookup.

  More beyond the egg, one namespace per concern (each mirroring a Java class): sockets.messages
  (sendmsg/recvmsg, control data, fd passing, credentials), sockets.datagrams (many datagrams
  per call), sockets.platform (platform data, network interfaces, socket activation; loading
  sockets.core loads it, so clojure.datafy works on sockets), sockets.io (ports),
  sockets.options, sockets.async."
  (:require [clojure.java.io :as io]
            [sockets.address :as addr]
            [sockets.constants :as c]
            [sockets.datagrams :as dg]
            [sockets.impl.args :as args]
            [sockets.io :as sio]
            [sockets.options :as o]
            [sockets.platform])
  (:import (java.nio ByteBuffer)
           (java.util ArrayList)
           (sockets AddrInfo EventLoop EventLoop$Attempt Messages Socket Socket$Received SocketException SocketException$Kind)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ parameters

(def ^:dynamic *socket-connect-timeout*
  "Milliseconds `socket-connect` waits, or nil (the default) to wait for as long as the system does."
  nil)
(def ^:dynamic *socket-accept-timeout*
  "Milliseconds `socket-accept` waits, or nil (the default) to wait forever."
  nil)
(def ^:dynamic *socket-receive-timeout*
  "Milliseconds a receive waits for data, or nil for ever. Default 60000 (one minute)."
  60000)
(def ^:dynamic *socket-send-timeout*
  "Milliseconds a send waits for buffer space, or nil for ever. Default 60000 (one minute)."
  60000)
(def ^:dynamic *socket-send-buffer-size*
  "Output buffer size of socket output ports in bytes, or nil (the default) for unbuffered output.
  Taken when the ports are created."
  nil)
(def ^:dynamic *socket-send-size*
  "Bytes per send(2) call in `socket-send-all` and socket output ports, or nil to send all that
  remains each call. Default 16384."
  16384)
(def ^:dynamic *socket-receive-buffer-size*
  "Input buffer size of socket input ports in bytes. Default 4096. Taken when the ports are created."
  4096)

(defn- timeout-ms
  "A parameter's value as the Java core's timeout (negative: none)."
  ^long [op v]
  (args/timeout-ms op "the timeout parameter" v))

;; ------------------------------------------------------------------ constants

(defn integer->address-family
  "The :af/ keyword for a platform address family integer; throws :invalid for unknown ones."
  [n]
  (or (c/->kw :af n) (throw (c/invalid :integer->address-family (str "unknown address family " (pr-str n))))))

(defn address-family->integer
  "The platform integer of an :af/ keyword (integers pass through)."
  [k]
  (c/->int :af k :address-family->integer))

(defn integer->socket-type
  "The :sock/ keyword for a platform socket type integer; throws :invalid for unknown ones."
  [n]
  (or (c/->kw :sock n) (throw (c/invalid :integer->socket-type (str "unknown socket type " (pr-str n))))))

(defn socket-type->integer
  "The platform integer of a :sock/ keyword (integers pass through)."
  [k]
  (c/->int :sock k :socket-type->integer))

(defn integer->protocol-type
  "The :ipproto/ keyword for a platform protocol integer; throws :invalid for unknown ones."
  [n]
  (or (c/->kw :ipproto n) (throw (c/invalid :integer->protocol-type (str "unknown protocol " (pr-str n))))))

(defn protocol-type->integer
  "The platform integer of an :ipproto/ keyword (integers pass through)."
  [k]
  (c/->int :ipproto k :protocol-type->integer))

;; ------------------------------------------------------------------ sockets

(defn socket?
  "True when `x` is a socket (a `sockets.Socket`), open or closed."
  [x]
  (instance? Socket x))


(defn ^sockets.Socket socket
  "Returns a new socket of `family` (:af/inet, :af/inet6, :af/unix) and `type` (:sock/stream,
  :sock/dgram, :sock/raw), protocol 0 unless given. It is non-blocking and close-on-exec and
  holds a file descriptor until `socket-close` (use `with-open`). An options map
  (`{:so/reuseaddr true :so/rcvbuf 262144}`, see `sockets.options`), given after the protocol or
  in its place, is validated before the socket exists and applied before it is returned; if
  the kernel refuses one, the socket is closed again and the error raised."
  ([family type] (socket family type 0 nil))
  ([family type protocol-or-opts]
   (if (map? protocol-or-opts)
     (socket family type 0 protocol-or-opts)
     (socket family type protocol-or-opts nil)))
  ([family type protocol opts]
   (args/options :socket opts)
   (when (seq opts) (o/check-options :socket opts))
   (let [so (Socket/open (c/->int :af family :socket) (c/->int :sock type :socket)
                         (c/->int :ipproto (or protocol 0) :socket))]
     (when (seq opts)
       (try (o/apply-options! so opts)
            (catch Throwable t (.closeQuietly so) (throw t))))
     so)))

(defn socketpair
  "Beyond the egg (socketpair(2)): returns [a b], two connected sockets of `family` (:af/unix;
  Linux has no other) and `type` (:sock/stream, :sock/dgram, :sock/seqpacket), protocol 0
  unless given; `(socketpair)` is a unix stream pair, as in CPython. Both are non-blocking and
  close-on-exec (atomically where the platform can, else by fcntl; if that fails both are
  closed). Does not block."
  ([] (socketpair :af/unix :sock/stream 0))
  ([family type] (socketpair family type 0))
  ([family type protocol]
   (let [op :socketpair
         ^objects r (Messages/socketPair (c/->int :af family op) (c/->int :sock type op)
                                         (c/->int :ipproto (or protocol 0) op))]
     [(aget r 0) (aget r 1)])))

(defn ^sockets.Socket fd->socket
  "Beyond the egg: returns a `sockets.Socket` owning open socket fd `fd` (an integer), with
  its family, type and protocol read from the kernel (SO_DOMAIN or getsockname, SO_TYPE,
  SO_PROTOCOL where the platform has it), made non-blocking and close-on-exec. Closing the
  socket closes the fd. Does not block. Throws :invalid when `fd` is not a socket (the fd is
  then left open and still yours)."
  [fd]
  (Messages/adopt (int (args/int-in :fd->socket "fd" fd 0 Integer/MAX_VALUE))))

(defn socket-fileno "The socket's file descriptor number." [s] (.fileno (args/socket :socket-fileno s)))

(defn- kw-or-int [kind n] (or (c/->kw kind n) n))

(defn socket-family "The socket's address family keyword (:af/inet ...)." [s] (kw-or-int :af (.family (args/socket :socket-family s))))
(defn socket-type "The socket's type keyword (:sock/stream ...)." [s] (kw-or-int :sock (.type (args/socket :socket-type s))))
(defn socket-protocol
  "The socket's protocol keyword (0, the default protocol, reads as :ipproto/ip)."
  [s]
  (kw-or-int :ipproto (.protocol (args/socket :socket-protocol s))))

(defmethod print-method Socket [^Socket s ^java.io.Writer w]
  (.write w (str "#<socket fd:" (.fileno s) " " (kw-or-int :af (.family s)) " " (kw-or-int :sock (.type s))
                 (when (.isClosed s) " closed") ">")))

;; ------------------------------------------------------------------ addresses (re-exported)

(defmacro ^:private reexport-from
  "Defines sockets.core/<name> as a function calling <ns>/<name> through its var (so
  instrumenting or redefining either works), with the same doc and arglists."
  [target-ns & names]
  `(do ~@(for [n names]
           (let [target (symbol (str target-ns) (name n))
                 m (meta (resolve target))]
             `(def ~(with-meta n {:doc (:doc m) :arglists (list 'quote (:arglists m))})
                (fn [& args#] (apply ~target args#)))))))

(reexport-from sockets.address inet-address unix-address sockaddr? sockaddr-family sockaddr-address sockaddr-port
          sockaddr-path sockaddr->string string->sockaddr address-information addrinfo?
          addrinfo-family addrinfo-socktype addrinfo-protocol addrinfo-address addrinfo-canonname
          addrinfo-flags name-information)

;; ------------------------------------------------------------------ connections

(defn- check-stream [op ^Socket s]
  (when (= (.type s) (c/->int :sock :sock/dgram))
    (throw (args/fail op "the socket" "a stream socket" s))))

(defn socket-connect
  "Connects `so` to `saddr`, blocking this thread (not others) up to *socket-connect-timeout*.
  Returns nil. A refusal, unreachable host or network, network down or system timeout raises
  :kind :transient; the parameter's timeout raises :kind :timeout; anything else :kind :fatal.
  On failure the socket is closed, as in the egg."
  [so saddr]
  (let [s (args/socket :socket-connect so)
        sa (addr/->native saddr :socket-connect)]
    (.connect s sa (timeout-ms :socket-connect *socket-connect-timeout*))
    nil))

;; ------------------------------------------------------------------ happy eyeballs (beyond the egg)

(defn- check-addresses
  "Refuses anything but a non-empty sequence of addrinfos; an empty result of
  `address-information` (its metadata names what was looked up) is :lookup, naming the host."
  [op ais]
  (when (or (not (sequential? ais)) (empty? ais))
    (if-let [{:keys [node service]} (and (sequential? ais) (contains? (meta ais) :node) (meta ais))]
      (throw (SocketException/lookup (c/op-name op) 0 node
                                     (str (c/op-name op) ": address-information found no address for "
                                          (pr-str node) (when service (str " (service " service ")"))
                                          "; check the host name") nil))
      (throw (args/fail op "the addresses" "a non-empty sequence of addrinfos" ais)))))

(defn- attempt->map [^EventLoop$Attempt a]
  {:address (addr/sockaddr->map (.address a)) :error (.error a) :ms (.ms a) :won? (.won a)})

(defn connect-ai-happy
  "Connects to one of `ais` (addrinfo maps or `sockets.AddrInfo`s) the RFC 8305 way and
  returns [socket attempts]: attempts start in family-interleaved order, each
  :attempt-delay-ms ms (default 250) after the previous one or at once when the previous one
  fails; the first connection wins and every other attempt is abandoned and its socket closed.
  `attempts` is a vector of {:address sockaddr :error message-or-nil :ms elapsed :won? bool}
  (abandoned attempts have :error \"abandoned\"). Options: :attempt-delay-ms ms (10-60000),
  :timeout-ms for each attempt (default *socket-connect-timeout*; nil: the system's). Blocks
  this thread; the attempts are non-blocking connects on the shared event loop (no thread per
  attempt). When every attempt fails, throws the last error with the attempt log as ex-data
  :attempts (and the other ex-data of that error)."
  ([ais] (connect-ai-happy ais {}))
  ([ais opts]
   (let [op :connect-ai-happy
         opts (args/options op opts args/renamed-keys)]
     (check-addresses op ais)
     (let [delay-ms (args/int-in op ":attempt-delay-ms" (get opts :attempt-delay-ms 250) 10 60000)
           t (timeout-ms op (get opts :timeout-ms *socket-connect-timeout*))
           ais (mapv addr/->addrinfo ais)
           log (ArrayList.)]
       (try
         [(.connectHappySync (EventLoop/shared) ais (long delay-ms) t log) (mapv attempt->map log)]
         (catch SocketException e
           (throw (doto (SocketException. (.op e) (.kind e) (.errno e) (.address e) (.getMessage e)
                                          (-> (ex-data e)
                                              (select-keys [:tried :errors])
                                              (assoc :attempts (mapv attempt->map log))))
                    (.initCause e)))))))))

(defn ^sockets.Socket socket-connect-ai
  "Connects to each addrinfo of `ais` in order with a fresh socket of its family and type until
  one succeeds; returns that connected socket. A fatal error aborts at once; a transient or
  timeout error tries the next; when all fail, the last error is raised. Every socket opened
  and abandoned is closed. Each attempt waits up to *socket-connect-timeout*.
  With `{:happy-eyeballs true}` (or a map of `connect-ai-happy` options such as
  {:attempt-delay-ms 250}) attempts are staggered RFC 8305-style across families and the first
  to connect wins; call `connect-ai-happy` itself for the attempt log."
  ([ais] (socket-connect-ai ais nil))
  ([ais opts]
   (let [op :socket-connect-ai
         opts (args/options op opts)]
     (check-addresses op ais)
     (if-let [he (:happy-eyeballs opts)]
       (first (connect-ai-happy ais (if (map? he) he {})))
       (Socket/connectAny (mapv addr/->addrinfo ais) (timeout-ms op *socket-connect-timeout*))))))

(defn socket-bind
  "Binds `so` to `saddr`. Returns nil."
  [so saddr]
  (let [s (args/socket :socket-bind so)]
    (.bind s (addr/->native saddr :socket-bind))
    nil))

(defn socket-listen
  "Listens for connections on stream socket `so`, with a queue of `backlog` (an int; passed
  to listen(2) as is, as the egg does: a negative backlog is taken as 0, a large one is cut
  to the system's limit). Returns nil."
  [so backlog]
  (let [s (args/socket :socket-listen so)]
    (check-stream :socket-listen s)
    (.listen s (int (args/int-in :socket-listen "backlog" backlog Integer/MIN_VALUE Integer/MAX_VALUE)))
    nil))

(defn ^sockets.Socket socket-accept
  "Accepts a connection on listening socket `so` and returns the new connected socket, blocking
  this thread up to *socket-accept-timeout* (then :kind :timeout)."
  [so]
  (let [s (args/socket :socket-accept so)]
    (check-stream :socket-accept s)
    (.accept s (timeout-ms :socket-accept *socket-accept-timeout*))))

(defn socket-accept-ready?
  "True when a connection is waiting to be accepted on `so` (never blocks)."
  [so]
  (.acceptReady (args/socket :socket-accept-ready? so)))

(defn socket-shutdown
  "Shuts down the reading (:shut/rd), writing (:shut/wr) or both (:shut/rdwr) sides of `so`'s
  connection. ENOTCONN is ignored. Returns nil."
  [so how]
  (.shutdown (args/socket :socket-shutdown so) (c/->int :shut how :socket-shutdown))
  nil)

(defn socket-close
  "Closes `so`; raises if close(2) fails. Threads blocked on it wake with :kind :closed. Closing
  a closed socket does nothing. Returns nil."
  [so]
  (.close (args/socket :socket-close so))
  nil)

(defn socket-close*
  "Closes `so`, never raising. Returns nil."
  [so]
  (when (instance? Socket so) (.closeQuietly ^Socket so))
  nil)

(defn ^sockets.Socket socket-dup
  "Beyond the egg (CPython's socket.dup): returns a new socket on a duplicate of `so`'s fd: the
  same kernel socket, family, type and protocol, on a new fd number that is close-on-exec from
  the start (F_DUPFD_CLOEXEC). Closing either socket leaves the other working; the connection
  ends when the last is closed. Does not block. Both fds share one O_NONBLOCK flag, so the new
  socket is non-blocking, as every new socket, and so is `so` from now on: a blocking `so` is
  put back in non-blocking mode, and `set-socket-blocking!` on either returns false. Raises
  :closed when `so` is closed or detached, the errno's kind when the kernel refuses (EMFILE:
  no free fd number). The new socket is yours to close (`with-open`)."
  [so]
  (.dup (args/socket :socket-dup so)))

(defn socket-detach
  "Beyond the egg (CPython's socket.detach): `so` gives up its fd, which stays open, and returns
  its number; the fd is yours from then on (`fd->socket` adopts it, or hand it on; close it when
  done). `so` then behaves as closed: every call raises :closed, and `socket-close` does nothing
  (it never closes the fd). Blocks until no other thread is inside a call on `so`: such calls
  (and `sockets.async` channels, which end with a :closed error and close) are woken within
  50 ms and fail with :closed, as after a close, but the kernel socket is left untouched; the
  number comes back only after they have all let go (and the event loop has taken the fd out of
  its epoll set). A receive that completed just as the detach came fails all the same, its data
  lost (a send's bytes may have gone out): stop other threads' calls first when every byte
  counts. The fd keeps its mode (non-blocking, unless `set-socket-blocking!` made it blocking;
  then the library's SO_RCVTIMEO/SO_SNDTIMEO wait slices are reset to none). Raises :closed when `so` is already closed or detached;
  :invalid, changing nothing, when called in an event-loop handler while the fd is in use."
  [so]
  (.detach (args/socket :socket-detach so)))

(defn socket-blocking?
  "True when `so` is in blocking mode (see `set-socket-blocking!`); sockets are created
  non-blocking, as in the egg."
  [so]
  (.isBlocking (args/socket :socket-blocking? so)))

(defn set-socket-blocking!
  "Beyond the egg: puts `so`'s fd in blocking mode (`true`) or back in non-blocking mode
  (`false`); returns the mode now in force. Every call still honours its timeout
  (*socket-receive-timeout* ...), and a `socket-close` from another thread still wakes it; only
  where the thread waits changes. Non-blocking (the default) waits in poll(2) and then calls
  (two or three syscalls per wait); blocking waits inside recv/send/accept/connect, in slices
  of at most 50 ms bounded by SO_RCVTIMEO/SO_SNDTIMEO (one syscall), as a blocking java.nio
  channel does: the faster choice for request/response traffic on platform threads. (One
  answer differs, the kernel's: a datagram socket shut down for reading receives 0 bytes at
  once when blocking, where a non-blocking one waits until the timeout.) Sockets accepted
  from a blocking listener are blocking; the library owns SO_RCVTIMEO/SO_SNDTIMEO while
  blocking; `sockets.async` channels put the socket back in non-blocking mode for good (then
  this returns false). Linux only: elsewhere it stays non-blocking and this returns false."
  [so on?]
  (.setBlocking (args/socket :set-socket-blocking! so) (boolean on?)))

(defn socket-name
  "The sockaddr map of `so`'s local end, or nil when it is not bound."
  [so]
  (addr/sockaddr->map (.localAddress (args/socket :socket-name so))))

(defn socket-peer-name
  "The sockaddr map of `so`'s remote end, or nil when it is not connected (also works for
  connected datagram sockets)."
  [so]
  (addr/sockaddr->map (.peerAddress (args/socket :socket-peer-name so))))

;; ------------------------------------------------------------------ buffers

(defn- advance!
  "After an implicit (position..limit) ByteBuffer operation, moves its position by n (at most
  to its limit: with :msg/trunc a receive reports a datagram's real length)."
  [buf start end n]
  (when (args/implicit? buf start end)
    (let [^ByteBuffer b buf]
      (.position b (+ (.position b) (int (min (long n) (.remaining b))))))))

(defn- msg-flags ^long [op flags] (args/flags op :msg flags))

;; ------------------------------------------------------------------ receiving

(defn- received
  "Receives into `buf` [start, end) (the checks of `op`); returns the `sockets.Socket$Received`
  (.count stored, .length the system's count, .from the sender when `from?`), after advancing an
  implicit ByteBuffer's position by what was stored."
  ^Socket$Received [op so buf start end flags from?]
  (let [s (args/socket op so)
        bb (args/region op buf start end false)
        fl (int (msg-flags op flags))
        t (timeout-ms op *socket-receive-timeout*)
        ^Socket$Received r (if from? (.receiveFrom s bb fl t) (.receiveCounted s bb fl t))]
    (advance! buf start end (.count r))
    r))

(defn socket-receive!
  "Receives into `buf` (a byte array or ByteBuffer) between `start` (default 0) and `end`
  (default its end) and returns the count, 0 meaning the peer shut down a stream. Blocks this
  thread until data arrives, up to *socket-receive-timeout*. `flags`: a set of :msg/ keywords
  (:msg/peek, :msg/oob, :msg/waitall, :msg/dontwait) or an int; with :msg/dontwait it does not
  wait but raises :kind :would-block. A datagram longer than the space is truncated and the
  rest lost; with `flags` :msg/trunc the count is then the datagram's real length, larger than
  the space (only the space was filled, as recv(2) reports). With a ByteBuffer and no
  start/end, the bytes go at its position, which then advances by what was stored."
  ([so buf] (socket-receive! so buf nil nil 0))
  ([so buf start] (socket-receive! so buf start nil 0))
  ([so buf start end] (socket-receive! so buf start end 0))
  ([so buf start end flags]
   (.length (received :socket-receive! so buf start end flags false))))

(defn- check-len ^long [op len]
  (args/size op "len" len c/max-receive-length))

(defn- fit
  "The first min(n, len) bytes of `buf` (of length len): never padded, even when a receive
  with :msg/trunc reports a datagram longer than the buffer."
  ^bytes [^bytes buf ^long n]
  (if (= n (alength buf)) buf (java.util.Arrays/copyOf buf (int (min n (alength buf))))))

(defn socket-receive
  "Receives up to `len` bytes (0 to 64 MiB, `sockets.constants/max-receive-length`) and
  returns them as a byte array sized to fit (empty when a stream peer shut down): only bytes
  that were received, never more than `len`. With `flags` :msg/trunc a longer datagram is cut
  to `len` bytes and its real length is not reported here: use `socket-receive!`, whose count
  it is. Otherwise as `socket-receive!`."
  ([so len] (socket-receive so len 0))
  ([so len flags]
   (let [len (check-len :socket-receive len)
         s (args/socket :socket-receive so)
         buf (byte-array len)
         n (.receive s buf 0 (int len) (int (msg-flags :socket-receive flags))
                     (timeout-ms :socket-receive *socket-receive-timeout*))]
     (fit buf n))))

(defn socket-receive-from!
  "Like `socket-receive!` for a datagram socket: returns [count sender-sockaddr], count as
  `socket-receive!` counts (with :msg/trunc, a longer datagram's real length)."
  ([so buf] (socket-receive-from! so buf nil nil 0))
  ([so buf start] (socket-receive-from! so buf start nil 0))
  ([so buf start end] (socket-receive-from! so buf start end 0))
  ([so buf start end flags]
   (let [r (received :socket-receive-from! so buf start end flags true)]
     [(.length r) (addr/sockaddr->map (.from r))])))

(defn socket-receive-from
  "Receives up to `len` bytes (0 to 64 MiB) from a datagram socket; returns [bytes
  sender-sockaddr], the bytes only those received (never more than `len`). The vector's
  metadata {:length n} is the count the system reported: with `flags` :msg/trunc, a longer
  datagram's real length."
  ([so len] (socket-receive-from so len 0))
  ([so len flags]
   (let [len (check-len :socket-receive-from len)
         buf (byte-array len)
         r (received :socket-receive-from so buf 0 len flags true)]
     (with-meta [(fit buf (.count r)) (addr/sockaddr->map (.from r))] {:length (.length r)}))))

(defn socket-receive-ready?
  "True when data (or end of stream, or an error) is waiting on `so` (never blocks)."
  [so]
  (.receiveReady (args/socket :socket-receive-ready? so)))

;; ------------------------------------------------------------------ sending

(defn socket-send
  "Sends `buf` (a byte array, ByteBuffer, or string as UTF-8) between `start` and `end`; returns
  the count sent, which may be less. Blocks this thread until some is sent, up to
  *socket-send-timeout*. `flags` as in `socket-receive!`. Never raises SIGPIPE: a closed peer is
  an error (:errno :EPIPE or :ECONNRESET)."
  ([so buf] (socket-send so buf nil nil 0))
  ([so buf start] (socket-send so buf start nil 0))
  ([so buf start end] (socket-send so buf start end 0))
  ([so buf start end flags]
   (let [op :socket-send
         s (args/socket op so)
         bb (args/region op buf start end true)
         n (.send s bb (int (msg-flags op flags)) (timeout-ms op *socket-send-timeout*))]
     (advance! buf start end n)
     n)))

(defn socket-send-to
  "Sends `buf` between `start` and `end` to `saddr` on a datagram socket; returns the count."
  ([so buf saddr] (socket-send-to so buf saddr nil nil 0))
  ([so buf saddr start] (socket-send-to so buf saddr start nil 0))
  ([so buf saddr start end] (socket-send-to so buf saddr start end 0))
  ([so buf saddr start end flags]
   (let [op :socket-send-to
         s (args/socket op so)
         _ (when (nil? saddr) (throw (args/fail op "the destination address" "a sockaddr" saddr)))
         sa (addr/->native saddr op)
         bb (args/region op buf start end true)
         n (.sendTo s bb sa (int (msg-flags op flags)) (timeout-ms op *socket-send-timeout*))]
     (advance! buf start end n)
     n)))

(defn socket-send-all
  "Sends all of `buf` between `start` and `end` over connected socket `so`, in chunks of
  *socket-send-size* bytes (nil: all that remains each call), each chunk waiting up to
  *socket-send-timeout*. On a connected datagram socket each chunk is one datagram. Returns nil."
  ([so buf] (socket-send-all so buf nil nil 0))
  ([so buf start] (socket-send-all so buf start nil 0))
  ([so buf start end] (socket-send-all so buf start end 0))
  ([so buf start end flags]
   (let [op :socket-send-all
         s (args/socket op so)
         bb (args/region op buf start end true)
         size *socket-send-size*
         _ (when-not (nil? size) (args/int-in op "*socket-send-size*" size 1 (dec Integer/MAX_VALUE)))
         n (.remaining bb)]
     (.sendAll s bb (int (msg-flags op flags)) (int (or size 0)) (timeout-ms op *socket-send-timeout*))
     (advance! buf start end n)
     nil)))

(defn socket-send-file
  "Beyond the egg (CPython's socket.sendfile, NIO's FileChannel.transferTo): sends `count`
  bytes (nil or omitted: up to the end) of `file` from byte `offset` (default 0) over the
  connected stream socket `so`; returns the count sent (a long), fewer than `count` only when
  the file ends first (0 when `offset` is at or past its end). `file` is a path string, a
  java.io.File, a java.nio.file.Path (opened read-only and always closed) or a FileChannel
  (read at `offset` without moving its position, and left open). Uses sendfile(2) on Linux;
  where sendfile refuses the file (a pipe, a FIFO, some /proc files) and elsewhere, reads
  sent with send(2). Blocks this thread until all is sent, each wait for buffer space up to
  *socket-send-timeout* (then :timeout; what was sent by then is gone), in blocking and
  non-blocking mode alike. A `socket-close` from another thread wakes it with :closed. Never
  raises SIGPIPE: a closed peer is an error (:errno :EPIPE or :ECONNRESET). :invalid, before
  anything is sent: a negative offset or count, a missing file or a directory, a closed or
  write-only FileChannel, and a socket that is not :sock/stream (a datagram socket would cut
  the file at arbitrary boundaries: send datagrams with `socket-send`)."
  ([so file] (socket-send-file so file 0 nil))
  ([so file offset] (socket-send-file so file offset nil))
  ([so file offset count]
   (let [op :socket-send-file
         s (args/socket op so)
         src (args/file-source op file)
         off (long (args/int-in op "the offset" offset 0 Long/MAX_VALUE))
         n (if (nil? count) -1 (long (args/int-in op "the count" count 0 Long/MAX_VALUE)))
         t (timeout-ms op *socket-send-timeout*)]
     (if (instance? java.nio.channels.FileChannel src)
       (.sendFile s ^java.nio.channels.FileChannel src off n t)
       (.sendFile s ^java.nio.file.Path src off n t)))))

;; ------------------------------------------------------------------ socket options (sockets.options)

(reexport-from sockets.options
  so-reuse-address? so-debug? so-keep-alive? so-dont-route? so-broadcast? so-oob-inline?
  so-accept-connections? so-send-buffer so-receive-buffer so-send-low-water so-receive-low-water
  so-error so-type tcp-no-delay? tcp-no-push? tcp-no-options? tcp-keep-alive tcp-max-segment-size
  ip-header-included? ip-type-of-service ip-time-to-live ipv6-v6-only?
  set-so-reuse-address! set-so-debug! set-so-keep-alive! set-so-dont-route! set-so-broadcast!
  set-so-oob-inline! set-so-send-buffer! set-so-receive-buffer! set-so-send-low-water!
  set-so-receive-low-water! set-tcp-no-delay! set-tcp-no-push! set-tcp-no-options!
  set-tcp-keep-alive! set-tcp-max-segment-size! set-ip-header-included! set-ip-type-of-service!
  set-ip-time-to-live! set-ipv6-v6-only!
  set-socket-option get-socket-option socket-options set-socket-options!)

;; ------------------------------------------------------------------ many datagrams (sockets.datagrams)

(defn- with-timeout
  "`opts` with :timeout-ms defaulting to parameter value `v`."
  [op opts v]
  (let [opts (args/options op opts args/renamed-keys)]
    (if (contains? opts :timeout-ms) opts (assoc opts :timeout-ms v))))

(defn socket-receive-many!
  "`sockets.datagrams/socket-receive-many!` (many datagrams per call into `bufs`), waiting up
  to the :timeout-ms option, else *socket-receive-timeout*. Returns a vector of
  {:count :address :truncated?}, one per datagram."
  ([so bufs] (socket-receive-many! so bufs nil))
  ([so bufs opts]
   (dg/socket-receive-many! so bufs (with-timeout :socket-receive-many! opts *socket-receive-timeout*))))

(defn socket-receive-many
  "`sockets.datagrams/socket-receive-many` (up to `n` datagrams of at most `size` bytes per
  call, into new arrays), waiting up to the :timeout-ms option, else *socket-receive-timeout*.
  Returns a vector of {:data :address :truncated?}, one per datagram."
  ([so n size] (socket-receive-many so n size nil))
  ([so n size opts]
   (dg/socket-receive-many so n size (with-timeout :socket-receive-many opts *socket-receive-timeout*))))

(defn socket-send-many
  "`sockets.datagrams/socket-send-many` (many datagrams per call), waiting up to the
  :timeout-ms option, else *socket-send-timeout*. Returns how many datagrams were sent."
  ([so datagrams] (socket-send-many so datagrams nil))
  ([so datagrams opts]
   (dg/socket-send-many so datagrams (with-timeout :socket-send-many opts *socket-send-timeout*))))

;; ------------------------------------------------------------------ ports (sockets.io)

(defn port-parameters
  "Returns the port parameters' current values as the map `sockets.io/io-ports` takes."
  []
  {:receive-buffer-size *socket-receive-buffer-size*
   :send-buffer-size *socket-send-buffer-size*
   :send-size *socket-send-size*
   :receive-timeout-ms *socket-receive-timeout*
   :send-timeout-ms *socket-send-timeout*})

(defn socket-io-ports
  "Returns [in out]: a java.io.InputStream and OutputStream over the connected socket `so`
  (stream or datagram), with the egg's buffering: input in a buffer of
  *socket-receive-buffer-size* bytes filled by one receive when empty; output unbuffered when
  *socket-send-buffer-size* is nil, else sent in whole multiples of it; sends chunked by
  *socket-send-size*. The parameters' values are taken now. Closing `in` shuts down the read
  side, closing `out` flushes and shuts down the write side; the socket closes when both are
  closed. Does not block."
  [so]
  (sio/io-ports so (port-parameters)))

(defn socket-io-port->socket
  "Returns the socket of a port (from socket-io-ports, or io/reader, io/writer, io/input-stream,
  io/output-stream on a socket)."
  [port]
  (sio/socket-io-port->socket port))

(defn socket-abandon-port
  "Returns nil. Marks `port` abandoned: closing it will not shut down its side of the
  connection; the socket is still closed once both ports are closed."
  [port]
  (sio/socket-abandon-port port))

;; clojure.java.io on sockets reads the parameter vars (or sockets.io/*port-config*, when bound
;; to a function) when the streams are made, so binding either works
(extend Socket
  io/IOFactory
  (sio/socket-streams-impl (fn [] (if-let [f sio/*port-config*] (f) (port-parameters)))))
